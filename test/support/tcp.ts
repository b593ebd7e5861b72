import net from "node:net";

/**
 * True when something accepts a TCP connection at "host:port" within
 * `timeoutMs`. For the test setup and the runners that wait for
 * infrastructure to go down or come back; loopback addresses only, like
 * every test here.
 */
export function tcpAnswers(address: string, timeoutMs = 1000): Promise<boolean> {
  const at = address.lastIndexOf(":");
  return new Promise((resolve) => {
    const socket = net.connect({
      host: address.slice(0, at),
      port: Number(address.slice(at + 1)),
      timeout: timeoutMs,
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
  });
}
