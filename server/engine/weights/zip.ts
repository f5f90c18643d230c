// Random-access reader for the ZIP archives torch.save writes: entries are STORED (uncompressed), so a
// tensor's bytes can be read straight from the file at a known offset. Only the central directory and
// the local headers are read; the archive itself never comes into memory. ZIP64 is handled because
// real LLaMA-13B shards are larger than 4 GB.
import type { FileHandle } from 'fs/promises';
import { CheckpointError } from './weightErrors';
import { readExactly } from './io';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate, ... */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

function u64(view: DataView, at: number, file: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(file, `zip: 64-bit field ${v} is out of range`);
  return Number(v);
}

export class ZipReader {
  private readonly byName = new Map<string, ZipEntry>();

  private constructor(
    readonly fh: FileHandle,
    readonly file: string,
    readonly fileSize: number,
    private readonly list: ZipEntry[],
  ) {
    for (const e of list) this.byName.set(e.name, e);
  }

  static async open(fh: FileHandle, file: string): Promise<ZipReader> {
    const fileSize = (await fh.stat()).size;
    const { cdOffset, cdSize, count, cdLimit } = await findCentralDirectory(fh, file, fileSize);
    const cd = new Uint8Array(cdSize);
    await readExactly(fh, file, cd, cdOffset, 'zip central directory');
    const entries = parseCentralDirectory(cd, count, file);
    for (const e of entries) {
      if (e.localHeaderOffset + 30 + e.compressedSize > cdLimit) {
        throw new CheckpointError(file, `zip entry ${e.name} extends past the central directory (corrupt archive)`);
      }
    }
    return new ZipReader(fh, file, fileSize, entries);
  }

  entries(): readonly ZipEntry[] {
    return this.list;
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Absolute file offset and length of a STORED entry's bytes. */
  async dataRange(entry: ZipEntry): Promise<{ offset: number; size: number }> {
    if (entry.method !== 0) {
      throw new CheckpointError(this.file, `zip entry ${entry.name} is compressed (method ${entry.method}); only stored entries, as torch.save writes them, are supported`);
    }
    const header = new Uint8Array(30);
    await readExactly(this.fh, this.file, header, entry.localHeaderOffset, `local header of ${entry.name}`);
    const view = new DataView(header.buffer);
    if (view.getUint32(0, true) !== SIG_LOCAL) throw new CheckpointError(this.file, `zip entry ${entry.name}: bad local header signature`);
    const nameLen = view.getUint16(26, true);
    const extraLen = view.getUint16(28, true);
    const offset = entry.localHeaderOffset + 30 + nameLen + extraLen;
    if (offset + entry.size > this.fileSize) {
      throw new CheckpointError(this.file, `file is truncated: zip entry ${entry.name} needs bytes up to ${offset + entry.size}, file has ${this.fileSize}`);
    }
    return { offset, size: entry.size };
  }

  /** Whole entry into memory; for small members (data.pkl, byteorder). */
  async readEntry(name: string, maxBytes = 1 << 30): Promise<Uint8Array> {
    const entry = this.byName.get(name);
    if (!entry) throw new CheckpointError(this.file, `zip entry ${name} is missing`);
    if (entry.size > maxBytes) throw new CheckpointError(this.file, `zip entry ${name} is ${entry.size} bytes, more than the ${maxBytes} allowed`);
    const { offset, size } = await this.dataRange(entry);
    const buf = new Uint8Array(size);
    await readExactly(this.fh, this.file, buf, offset, `zip entry ${name}`);
    return buf;
  }
}

async function findCentralDirectory(fh: FileHandle, file: string, fileSize: number): Promise<{ cdOffset: number; cdSize: number; count: number; cdLimit: number }> {
  if (fileSize < EOCD_SIZE) throw new CheckpointError(file, `not a zip archive (${fileSize} bytes)`);
  const tailLen = Math.min(fileSize, EOCD_SIZE + MAX_COMMENT + 20);
  const tailStart = fileSize - tailLen;
  const tail = new Uint8Array(tailLen);
  await readExactly(fh, file, tail, tailStart, 'zip end record');
  const view = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    // The comment length must land exactly on the end of the file; this rejects stray signatures.
    if (view.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + view.getUint16(i + 20, true) === tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new CheckpointError(file, 'zip end-of-central-directory record not found (file truncated or not a zip archive)');
  }
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  let cdLimit = tailStart + eocd;
  const locator = eocd - 20;
  if (locator >= 0 && view.getUint32(locator, true) === SIG_ZIP64_LOCATOR) {
    const recordOffset = u64(view, locator + 8, file);
    const record = new Uint8Array(56);
    await readExactly(fh, file, record, recordOffset, 'zip64 end record');
    const rv = new DataView(record.buffer);
    if (rv.getUint32(0, true) !== SIG_ZIP64_EOCD) throw new CheckpointError(file, 'zip64 end record has a bad signature');
    count = u64(rv, 32, file);
    cdSize = u64(rv, 40, file);
    cdOffset = u64(rv, 48, file);
    cdLimit = recordOffset;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new CheckpointError(file, 'zip needs a zip64 end record but none was found (corrupt archive)');
  }
  if (cdOffset + cdSize > cdLimit) {
    throw new CheckpointError(file, `zip central directory (${cdOffset}+${cdSize}) overlaps its end record at ${cdLimit} (file truncated or corrupt)`);
  }
  return { cdOffset, cdSize, count, cdLimit };
}

function parseCentralDirectory(cd: Uint8Array, count: number, file: string): ZipEntry[] {
  const view = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const decoder = new TextDecoder('utf-8');
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > cd.length || view.getUint32(at, true) !== SIG_CENTRAL) {
      throw new CheckpointError(file, `zip central directory entry ${i} is corrupt`);
    }
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLen = view.getUint16(at + 28, true);
    const extraLen = view.getUint16(at + 30, true);
    const commentLen = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const end = at + 46 + nameLen + extraLen + commentLen;
    if (end > cd.length) throw new CheckpointError(file, `zip central directory entry ${i} runs past the directory`);
    const name = decoder.decode(cd.subarray(at + 46, at + 46 + nameLen));
    // ZIP64 extra field: only the fields saturated in the fixed header are present, in this order.
    let x = at + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (id === 0x0001) {
        let p = x + 4;
        const take = (): number => {
          if (p + 8 > x + 4 + len) throw new CheckpointError(file, `zip entry ${name}: short zip64 extra field`);
          const v = u64(view, p, file);
          p += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      x += 4 + len;
    }
    entries.push({ name, method, compressedSize, size, localHeaderOffset });
    at = end;
  }
  return entries;
}
