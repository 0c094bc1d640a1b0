const MiB = 1024 * 1024;

export type ProgressOptions = {
  /** A terminal gets one line rewritten in place; a log gets a line per file and per step. */
  tty: boolean;
  write: (text: string) => void;
  now?: () => number;
  /** Bytes between two lines when not on a terminal. */
  stepBytes?: number;
};

export type Progress = {
  onBytes(name: string, bytes: number): void;
  done(): void;
};

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** Download progress on stderr: what file, how much of it, how much in all, how fast. */
export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const stepBytes = options.stepBytes ?? 64 * MiB;
  const started = now();
  let file = "";
  let fileBytes = 0;
  let total = 0;
  let lastDraw = 0;
  let nextStep = stepBytes;
  let drawn = false;

  const line = () => {
    const seconds = Math.max((now() - started) / 1000, 0.001);
    return `${file}: ${mib(fileBytes)} (${mib(total)} in all, ${mib(total / seconds)}/s)`;
  };
  return {
    onBytes(name, bytes) {
      if (name !== file) {
        file = name;
        fileBytes = 0;
        if (!options.tty) options.write(`downloading ${name}\n`);
      }
      fileBytes += bytes;
      total += bytes;
      if (options.tty) {
        if (now() - lastDraw < 200) return;
        lastDraw = now();
        drawn = true;
        options.write(`\r\x1b[2K  ${line()}`);
      } else if (total >= nextStep) {
        nextStep = (Math.floor(total / stepBytes) + 1) * stepBytes;
        options.write(`  ${line()}\n`);
      }
    },
    done() {
      if (options.tty && drawn) options.write(`\r\x1b[2K`);
      if (total > 0)
        options.write(`downloaded ${mib(total)} in ${((now() - started) / 1000).toFixed(1)} s\n`);
    },
  };
}

/** On by default on a terminal; `--progress` asks for it in a log too; never with --json. */
export function progressFor(values: {
  json?: boolean | undefined;
  progress?: boolean | undefined;
}) {
  const tty = process.stderr.isTTY === true;
  if (values.json || !(tty || values.progress)) return undefined;
  return createProgress({ tty, write: (text) => process.stderr.write(text) });
}
