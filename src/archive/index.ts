/** Public surface of the streaming archive layer (format version 1, see DESIGN.md). */
export {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  MANIFEST_PATH,
  MAX_ENTRY_PATH_LENGTH,
  isSafeEntryPath,
  parseManifest,
  type ArchiveEngine,
  type ArchiveKind,
  type BackupType,
  type DayOfWeek,
  type Manifest,
  type ManifestColumn,
  type ManifestCompression,
  type ManifestEntry,
  type ManifestOrganization,
} from './manifest.js';
export { ArchiveWriter, DEFAULT_COMPRESSION_LEVEL, type ArchiveWriterOptions, type EntrySource, type WrittenEntry } from './zip-writer.js';
export { ArchiveReader, MAX_ARCHIVE_ENTRIES, MAX_MANIFEST_BYTES } from './zip-reader.js';
