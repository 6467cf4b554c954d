/**
 * CPU time of other processes (the servers), read from /proc/<pid>/stat, so a
 * benchmark can say what the servers spent beside what the client spent.
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc's utime and stime; 100 on Linux, whatever the kernel's HZ. */
const CLOCK_TICKS_PER_SEC = 100;

/** User plus system CPU of `pid` so far, in milliseconds. */
export function processCpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`server process ${pid} has exited: a server of the cluster died during the run`);
    throw error;
  }
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const userTicks = Number(fields[11]);
  const systemTicks = Number(fields[12]);
  return ((userTicks + systemTicks) * 1000) / CLOCK_TICKS_PER_SEC;
}

/** This process's own user plus system CPU so far, in milliseconds. */
export function ownCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}
