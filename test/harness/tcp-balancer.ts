import net from "node:net";

export type TcpBalancer = {
  port: number;
  url: string;
  /** Connections accepted per target port. */
  connections(): Map<number, number>;
  close(): Promise<void>;
};

/**
 * What a Kubernetes Service does for a set of pods: each new TCP connection goes to the next
 * target in turn, and a target that refuses the connection is skipped for the next one.
 */
export async function startTcpBalancer(targetPorts: readonly number[]): Promise<TcpBalancer> {
  let next = 0;
  const counts = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const connectTo = (client: net.Socket, attemptsLeft: number) => {
    const port = targetPorts[next % targetPorts.length]!;
    next += 1;
    const upstream = net.connect(port, "127.0.0.1");
    sockets.add(upstream);
    upstream.once("close", () => sockets.delete(upstream));
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      counts.set(port, (counts.get(port) ?? 0) + 1);
      client.pipe(upstream).pipe(client);
    });
    upstream.on("error", () => {
      if (!connected && attemptsLeft > 1) connectTo(client, attemptsLeft - 1);
      else client.destroy();
    });
    upstream.once("close", () => connected && client.destroy());
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    client.pause();
    connectTo(client, targetPorts.length);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => new Map(counts),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
