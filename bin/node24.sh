# Sourced by bin/podmortem and bin/kubectl-forensic (POSIX sh): sets NODE24 to the project's Node
# (the node@24 devDependency in node_modules), else to the `node` on PATH, whose version
# bin/require-node.js then checks. $0 may be a symlink (npm link makes one): follow it.
bin_dir=$(dirname "$(readlink -f "$0")")
NODE24="$bin_dir/../node_modules/node/bin/node"
[ -x "$NODE24" ] || NODE24=node
