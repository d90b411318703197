// Who holds a vfio node open, from /proc/PID/fd.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { groupMembers } from './groups.js';
import { pciDir, sysPath, type SysfsOptions } from './pci.js';

/** A process that holds a vfio node open (vfioGroupUsers). */
export interface VfioNodeUser {
  /** Its process ID. */
  readonly pid: number;
  /** The node it holds: the group's, or a member device's cdev (/dev/vfio/devices/vfioN). */
  readonly node: string;
  /** The process name from /proc/PID/comm. */
  readonly command: string;
}

/**
 * Processes that hold the group's /dev/vfio node, or a member device's cdev, open (from
 * /proc/PID/fd, under `root`). Only the processes this user may inspect are seen: all of
 * them as root.
 */
export function vfioGroupUsers(group: number, opts?: SysfsOptions): VfioNodeUser[] {
  const nodes = new Set([`/dev/vfio/${group}`, `/dev/vfio/noiommu-${group}`]);
  for (const m of groupMembers(group, opts)) {
    try {
      for (const n of readdirSync(join(pciDir(m.address, opts), 'vfio-dev'))) nodes.add(`/dev/vfio/devices/${n}`);
    } catch {
      // no cdev (older kernel, or not bound to vfio-pci)
    }
  }
  const proc = sysPath(opts, 'proc');
  const users: VfioNodeUser[] = [];
  let pids: string[];
  try {
    pids = readdirSync(proc).filter((n) => /^\d+$/.test(n));
  } catch {
    return users;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(join(proc, pid, 'fd'));
    } catch {
      continue;
    }
    let node: string | undefined;
    for (const fd of fds) {
      try {
        const target = readlinkSync(join(proc, pid, 'fd', fd));
        if (nodes.has(target)) {
          node = target;
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
    if (node === undefined) continue;
    let command = '?';
    try {
      command = readFileSync(join(proc, pid, 'comm'), 'utf8').trim();
    } catch {
      // gone meanwhile
    }
    users.push({ pid: Number(pid), node, command });
  }
  return users.sort((a, b) => a.pid - b.pid);
}
