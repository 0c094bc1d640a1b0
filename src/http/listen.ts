import type { Server } from "node:net";

import { PodmortemError } from "../errors.ts";

/** Listens, turning a busy port into one sentence that names the variable to change. */
export async function listen(
  server: Server,
  port: number,
  host: string,
  portVariable: string,
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new PodmortemError(
              "PREREQUISITE_MISSING",
              `port ${port} is already in use: stop what listens there or set ${portVariable}`,
              { cause: error },
            )
          : error,
      ),
    );
    server.listen(port, host, () => resolve());
  });
}
