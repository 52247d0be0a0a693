import net from 'node:net';
import { ephemeralRange, freePorts, listenRange, portFree } from './ports';

describe('stack ports', () => {
  it('are handed out below the ephemeral range, where outgoing connections never take them', async () => {
    const [low, high] = ephemeralRange();
    const ports = await freePorts(12);
    expect(new Set(ports).size).toBe(12);
    for (const port of ports) {
      expect(port < low || port > high).toBe(true);
      expect(port).toBeGreaterThanOrEqual(1024);
    }
  });

  it('are never handed out twice by one process, even before they are bound', async () => {
    const first = await freePorts(30);
    const second = await freePorts(30);
    expect(first.filter((p) => second.includes(p))).toEqual([]);
  });

  it('skips a port something listens on', async () => {
    const server = net.createServer();
    const [low] = listenRange();
    await new Promise<void>((resolve) => server.listen(low, '127.0.0.1', resolve));
    try {
      expect(await portFree(low)).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await portFree(low)).toBe(true);
  });

  it('picks the side of the ephemeral range that has room, and says so when neither has', () => {
    expect(listenRange([32768, 60999])).toEqual([10000, 32767]);
    expect(listenRange([1024, 60000])).toEqual([60001, 65535]);
    expect(() => listenRange([1024, 65000])).toThrow(/leaves no room/);
  });
});
