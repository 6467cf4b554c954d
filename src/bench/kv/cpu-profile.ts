/**
 * V8 CPU profiles for `npm run bench -- --cpu-prof DIR`: the servers write
 * theirs through Node's own --cpu-prof, the bench process records its client
 * through the inspector. Each is summed up as the functions with the most self
 * time; the files open in Chrome DevTools or speedscope for the whole picture.
 */
import { readFile, readdir, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { join } from "node:path";

/** The parts of a .cpuprofile read here. */
interface CpuProfile {
  readonly nodes: readonly { readonly id: number; readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number } }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** What the event loop spends waiting: left out of the shares. */
const IDLE = "(idle)";

/** Node flags that make a server write its profile to `dir`/`name`.cpuprofile when it exits (Node refuses them in NODE_OPTIONS). */
export function profilingNodeArgs(dir: string, name: string): string[] {
  return ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`];
}

/** Starts profiling this process; the returned function stops and writes the profile to `path`. */
export async function profileThisProcess(path: string): Promise<() => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return async () => {
    const { profile } = await session.post("Profiler.stop");
    session.disconnect();
    await writeFile(path, JSON.stringify(profile));
  };
}

/** The .cpuprofile files in `dir`. */
export async function profilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith(".cpuprofile")).map((name) => join(dir, name));
}

/** Lines naming the `top` functions by self time, with their share of the time the process was not idle. */
export async function summarizeProfile(path: string, top: number): Promise<string[]> {
  const profile = JSON.parse(await readFile(path, "utf8")) as CpuProfile;
  const nameOf = new Map<number, string>();
  for (const { id, callFrame } of profile.nodes) {
    const file = callFrame.url.split("/").at(-1) ?? "";
    nameOf.set(id, file === "" ? callFrame.functionName || "(anonymous)" : `${callFrame.functionName || "(anonymous)"} ${file}:${callFrame.lineNumber + 1}`);
  }
  const selfUs = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    const name = nameOf.get(id) ?? "(unknown)";
    const us = profile.timeDeltas[i] ?? 0;
    if (name === IDLE) {
      idleUs += us;
      return;
    }
    busyUs += us;
    selfUs.set(name, (selfUs.get(name) ?? 0) + us);
  });
  const lines = [`busy ${(busyUs / 1000).toFixed(0)} ms of ${((busyUs + idleUs) / 1000).toFixed(0)} ms sampled`];
  for (const [name, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`${((us / busyUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${name}`);
  }
  return lines;
}
