/**
 * `npm start`: every tracker of tracker_info.txt in this one foreground process, with
 * readable logs; Ctrl-C stops them all cleanly. For trying the system on one machine:
 * then open clients in other terminals.
 */
import { readTrackerInfo } from '../wire/tracker-info.js';
import { defaultDataDir } from './cli.js';
import { createLogger } from './logger.js';
import { Tracker } from './tracker.js';

export async function runAllTrackers(infoFile = 'tracker_info.txt'): Promise<void> {
  const trackers = readTrackerInfo(infoFile);
  const running = await Promise.all(
    trackers.map((t) => Tracker.start({ id: t.id, trackers, dataDir: defaultDataDir(t.id), log: createLogger(`tracker-${t.id}`) })),
  );
  console.log(`\n${running.length} trackers running (${trackers.map((t) => `${t.host}:${t.port}`).join(', ')}).`);
  console.log('Open a client in another terminal:  npx client 127.0.0.1:9909 tracker_info.txt   (Ctrl-C here stops the trackers)\n');
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void Promise.all(running.map((t) => t.stop())).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
