// The one Node version check of both commands. Plain JavaScript that any Node parses, so that an
// older `node` gets this sentence instead of a syntax error from the TypeScript sources.
const MINIMUM_MAJOR = 24;

/** Exits 2 (usage: the environment is wrong) unless this is Node 24 or newer. */
export function requireNode(command) {
  const [major] = process.versions.node.split(".").map(Number);
  if (major >= MINIMUM_MAJOR) return;
  process.stderr.write(
    `${command} needs Node >= ${MINIMUM_MAJOR} (this is ${process.versions.node}): run bin/${command} ` +
      "(or the command npm link installed), which uses the project's node@24 devDependency, " +
      "or install Node 24.\n",
  );
  process.exit(2);
}

/** `podmortem audit | head` closes the pipe early: that ends the command, it is no failure. */
export function endOnClosedPipe() {
  for (const stream of [process.stdout, process.stderr])
    stream.on("error", (error) => {
      if (error.code === "EPIPE") process.exit(0);
      throw error;
    });
}
