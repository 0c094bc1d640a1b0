const BOLD = "\u001b[1m";
const DIM = "\u001b[2m";
const RESET = "\u001b[0m";

/**
 * report.md for a terminal: headings and **strong** text in bold, code blocks dimmed, the rest
 * as written. Without a TTY (a pipe, a file) the Markdown passes through untouched.
 */
export function renderForTerminal(markdown: string, tty: boolean): string {
  if (!tty) return markdown;
  let inFence = false;
  return markdown
    .split("\n")
    .map((line) => {
      if (/^`{3,}/.test(line)) {
        inFence = !inFence;
        return "";
      }
      if (inFence) return `${DIM}${line}${RESET}`;
      if (/^#{1,6} /.test(line)) return `${BOLD}${line.replace(/^#{1,6} /, "")}${RESET}`;
      return line
        .replace(/\*\*(.+?)\*\*/g, `${BOLD}$1${RESET}`)
        .replace(/\\([\\`*_[\]<>|])/g, "$1");
    })
    .join("\n");
}
