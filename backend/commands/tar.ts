/**
 * Pure builders for GNU tar, as volume backups use it: the archive is made from an explicit list
 * of entries (never a recursive walk by tar, so links are stored as links and never followed),
 * and extracted without taking owners from the archive.
 */

/**
 * Writes an uncompressed pax archive of the entries named on stdin (NUL-separated, relative to
 * `dir`) to stdout. `--verbatim-files-from`: a name starting with a dash is a name, not an option.
 * `--ignore-failed-read`: a file removed between the listing and the read is a warning, not a
 * failed backup (the archive records what was there when it was read).
 */
export function tarCreateArgv(dir: string): string[] {
  return [
    "tar",
    "--create",
    "--file=-",
    `--directory=${dir}`,
    "--format=pax",
    "--no-recursion",
    "--null",
    "--verbatim-files-from",
    "--files-from=-",
    "--ignore-failed-read",
    "--numeric-owner",
  ];
}

/**
 * Extracts a gzip-compressed archive into `dir`. The entries were checked before (no absolute
 * paths, no `..`, no links out, nothing through a link); tar's own guards stay on as well.
 */
export function tarExtractArgv(archive: string, dir: string): string[] {
  return [
    "tar",
    "--extract",
    "--gzip",
    `--file=${archive}`,
    `--directory=${dir}`,
    "--no-same-owner",
    "--preserve-permissions",
    "--no-overwrite-dir",
  ];
}

/** The name a listed entry is given on tar's stdin: `./` first, so it can never read as an option. */
export function tarListEntry(relativePath: string): string {
  if (relativePath.includes("\0")) throw new Error("an entry name must not contain NUL");
  return `./${relativePath}\0`;
}
