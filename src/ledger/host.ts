/**
 * Which machine this process runs on, as the ledger records it, and whether a folder is on a file
 * system that several machines share (where the JSON ledger refuses to work: see json-file.ts).
 */
import { statfs } from 'node:fs/promises';

/** The host name written into records and checked by the JSON ledger (see src/host.ts). */
export { hostIdentity } from '../host.js';

/**
 * statfs(2) magic numbers of file systems that several machines mount at once: NFS, SMB/CIFS,
 * AFS, Ceph, Coda, NCP, 9P, Lustre, GPFS, OCFS2, GFS2. (FUSE is not listed: local FUSE file
 * systems, such as a container's fuse-overlayfs root, are common; sshfs-like ones are not caught.)
 */
const SHARED_FILE_SYSTEMS = new Map<number, string>([
  [0x6969, 'NFS'],
  [0x517b, 'SMB'],
  [0xff534d42, 'CIFS'],
  [0xfe534d42, 'SMB2'],
  [0x5346414f, 'AFS'],
  [0x6b414653, 'AFS'],
  [0x00c36400, 'Ceph'],
  [0x73757245, 'Coda'],
  [0x564c, 'NCP'],
  [0x01021997, '9P'],
  [0x0bd00bd0, 'Lustre'],
  [0x47504653, 'GPFS'],
  [0x7461636f, 'OCFS2'],
  [0x01161970, 'GFS2'],
]);

/** The name of the shared (network or cluster) file system `dir` is on, or null for a local one. */
export async function sharedFileSystemOf(dir: string): Promise<string | null> {
  const info = await statfs(dir).catch(() => null);
  if (!info) return null;
  return SHARED_FILE_SYSTEMS.get(Number(info.type) >>> 0) ?? null;
}
