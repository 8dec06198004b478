/**
 * A TCP proxy for tests that need to cut the link between two trackers: it forwards
 * 127.0.0.1:<port> to a target, and `cut()` drops every connection and turns new ones
 * away (accepted, then destroyed) until `restore()`. With `delayMs`, every chunk is
 * forwarded that long after it arrived, in order (a slow network). Loopback only.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private readonly sockets = new Set<Socket>();
  private isCut = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly delayMs: number,
  ) {}

  static start(targetPort: number, targetHost = '127.0.0.1', delayMs = 0): Promise<TcpProxy> {
    return new Promise((resolve, reject) => {
      let proxy: TcpProxy | undefined;
      const server = createServer((client) => proxy!.accept(client, targetHost, targetPort));
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        proxy = new TcpProxy(server, (server.address() as { port: number }).port, delayMs);
        resolve(proxy);
      });
    });
  }

  get cutNow(): boolean {
    return this.isCut;
  }

  /** Drops every connection through the proxy and refuses new ones. */
  cut(): void {
    this.isCut = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.isCut = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    if (this.isCut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host, port });
    const pair = [client, upstream];
    for (const s of pair) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        for (const other of pair) other.destroy();
      });
    }
    this.forward(client, upstream);
    this.forward(upstream, client);
  }

  private forward(from: Socket, to: Socket): void {
    if (this.delayMs === 0) {
      from.pipe(to);
      return;
    }
    // Each chunk leaves delayMs after it came; timers of equal delay fire in order.
    from.on('data', (chunk: Buffer) => setTimeout(() => to.destroyed || to.write(chunk), this.delayMs));
    from.on('end', () => setTimeout(() => to.end(), this.delayMs));
  }
}
