import type { Socket } from "node:net";

/**
 * Carries a client's bytes to its upstream and back until either side ends; both sockets stay in
 * `open` while they live, so a harness can destroy whatever is still connected when it stops.
 */
export function splice(client: Socket, upstream: Socket, open: Set<Socket>): void {
  open.add(client).add(upstream);
  const close = () => {
    client.destroy();
    upstream.destroy();
    open.delete(client);
    open.delete(upstream);
  };
  client.pipe(upstream).pipe(client);
  client.on("error", close).on("close", close);
  upstream.on("error", close).on("close", close);
}
