// preprocessImage against LaVIN's reference pixels (golden fixture) and against Pillow 9.4 on other
// formats and sizes (test/data/images/generate_expected.py).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'fs';
import path from 'path';
import sharp from 'sharp';
import { FIXTURE_DIR } from '../golden/fixture';
import { decodeRgb, IMAGENET_MEAN, IMAGENET_STD, preprocessImage, resizeBicubicPillow } from '../../server/engine/image';

const ROOT = path.resolve(__dirname, '../../..');
const FIXTURE = FIXTURE_DIR;
const IMAGES = path.join(ROOT, 'test/data/images');
const UNSUPPORTED = /not a supported image \(PNG, JPEG, WebP, GIF\)/;

/** One F32 tensor from a safetensors file: 8-byte header length, JSON header, raw little-endian data. */
function readSafetensorsF32(file: string, name: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(file);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  const entry = header[name];
  assert.ok(entry, `${name} missing from ${file}`);
  assert.equal(entry.dtype, 'F32');
  const [begin, end] = entry.data_offsets as [number, number];
  const bytes = buf.subarray(8 + headerLen + begin, 8 + headerLen + end);
  const data = new Float32Array(bytes.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(i * 4);
  return { shape: entry.shape, data };
}

test('fixture image.png gives the golden input.image_pixels bit for bit', async () => {
  const golden = readSafetensorsF32(path.join(FIXTURE, 'golden.safetensors'), 'input.image_pixels');
  assert.deepEqual(golden.shape, [3, 224, 224]);
  const pixels = await preprocessImage(readFileSync(path.join(FIXTURE, 'inputs/image.png')));
  assert.equal(pixels.length, golden.data.length);
  let maxDiff = 0;
  let differing = 0;
  for (let i = 0; i < pixels.length; i++) {
    const d = Math.abs(pixels[i] - golden.data[i]);
    if (d > 0) differing++;
    if (d > maxDiff) maxDiff = d;
  }
  assert.equal(differing, 0, `${differing} values differ, max |diff| ${maxDiff}`);
});

interface ImageCase {
  input: string;
  description: string;
  width: number;
  height: number;
  expected: string;
  source_size: [number, number];
}

test('decode + resize equal Pillow 9.4 convert("RGB").resize(BICUBIC) on every format and size', async () => {
  const { cases } = JSON.parse(readFileSync(path.join(IMAGES, 'cases.json'), 'utf8')) as { cases: ImageCase[] };
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const rgb = await decodeRgb(readFileSync(path.join(IMAGES, c.input)));
    assert.deepEqual([rgb.width, rgb.height], c.source_size, `${c.input}: decoded size (${c.description})`);
    const out = resizeBicubicPillow(rgb, c.width, c.height);
    const expected = await sharp(readFileSync(path.join(IMAGES, c.expected)), { ignoreIcc: true }).raw().toBuffer({ resolveWithObject: true });
    assert.equal(expected.info.channels, 3);
    assert.equal(out.data.length, expected.data.length);
    let maxDiff = 0;
    let differing = 0;
    for (let i = 0; i < out.data.length; i++) {
      const d = Math.abs(out.data[i] - expected.data[i]);
      if (d) differing++;
      if (d > maxDiff) maxDiff = d;
    }
    assert.equal(differing, 0, `${c.input} -> ${c.width}x${c.height} (${c.description}): ${differing} bytes differ, max ${maxDiff}`);
  }
});

test('EXIF orientation and embedded ICC profiles are ignored, as PIL does', async () => {
  const rotated = await decodeRgb(readFileSync(path.join(IMAGES, 'inputs/exif-rotate-240x160.jpg')));
  assert.deepEqual([rotated.width, rotated.height], [240, 160]);
  const auto = await sharp(readFileSync(path.join(IMAGES, 'inputs/exif-rotate-240x160.jpg'))).autoOrient().metadata();
  assert.equal(auto.autoOrient?.width, 160, 'the file really carries orientation 6');
  // The profile swaps red and blue primaries: a colour-managed decode would differ a lot.
  const iccBytes = readFileSync(path.join(IMAGES, 'inputs/icc-110x70.png'));
  const ours = await decodeRgb(iccBytes);
  const managed = await sharp(iccBytes).raw().toBuffer();
  let maxDiff = 0;
  for (let i = 0; i < managed.length; i++) maxDiff = Math.max(maxDiff, Math.abs(managed[i] - ours.data[i]));
  assert.ok(maxDiff > 100, `colour management would change pixels by ${maxDiff}`);
});

test('ToTensor + ImageNet Normalize: CHW layout and float32 rounding', async () => {
  const solid = await sharp({ create: { width: 5, height: 7, channels: 3, background: { r: 255, g: 0, b: 128 } } }).png().toBuffer();
  const out = await preprocessImage(solid, { size: 3 });
  assert.equal(out.length, 3 * 3 * 3);
  const f = Math.fround;
  const expected = [255, 0, 128].map((v, c) => f(f(f(v / 255) - f(IMAGENET_MEAN[c])) / f(IMAGENET_STD[c])));
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < 9; p++) assert.equal(out[c * 9 + p], expected[c], `channel ${c} pixel ${p}`);
  }
  assert.ok(Math.abs(expected[0] - (1 - 0.485) / 0.229) < 1e-6);
  const custom = await preprocessImage(solid, { size: 2, mean: [0, 0, 0], std: [1, 1, 1] });
  assert.deepEqual(Array.from(custom.subarray(0, 4)), [1, 1, 1, 1]);
});

/** Standard CRC-32 (PNG chunk checksum). */
function crc32(bytes: Uint8Array): number {
  let crc = ~0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG whose valid IHDR claims width x height, followed by a few bytes of image data. */
function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat = Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0))]);
}

test('a PNG header claiming 100000 x 100000 pixels is refused before decoding', async () => {
  const bomb = pngClaiming(100000, 100000);
  assert.ok(bomb.length < 100);
  const started = Date.now();
  await assert.rejects(preprocessImage(bomb), /too many pixels: over the 50\.0 megapixel limit/);
  assert.ok(Date.now() - started < 2000, 'refused quickly');
});

test('size limits: bytes and pixels', async () => {
  const png = readFileSync(path.join(FIXTURE, 'inputs/image.png')); // 320 x 200
  await assert.rejects(preprocessImage(png, { maxBytes: 1000 }), /image is too large: .* MB exceeds the .* MB limit/);
  await assert.rejects(preprocessImage(png, { maxPixels: 320 * 200 - 1 }), /too many pixels/);
  const exact = await preprocessImage(png, { maxPixels: 320 * 200, maxBytes: png.length });
  assert.equal(exact.length, 3 * 224 * 224);
  const big = new Uint8Array(20 * 1024 * 1024 + 1);
  big.set(png.subarray(0, 8));
  await assert.rejects(preprocessImage(big), /image is too large: 20\.0 MB exceeds the 20\.0 MB limit/);
});

test('corrupt, truncated and non-image inputs: "not a supported image"', async () => {
  const png = readFileSync(path.join(FIXTURE, 'inputs/image.png'));
  const jpeg = readFileSync(path.join(IMAGES, 'inputs/photo-300x200.jpg'));
  const corruptJpeg = Buffer.from(jpeg);
  corruptJpeg.fill(0x55, 200, 4000); // keep the markers at the start, wreck the tables and data
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>');
  const tiff = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } }).tiff().toBuffer();
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['text', Buffer.from('hello, I am not an image')],
    ['truncated PNG', png.subarray(0, png.length / 2)],
    ['PNG signature only', png.subarray(0, 8)],
    ['truncated JPEG', jpeg.subarray(0, jpeg.length / 3)],
    ['corrupt JPEG', corruptJpeg],
    ['SVG (sharp decodes it, LaVIN does not take it)', svg],
    ['TIFF', tiff],
  ];
  for (const [what, bytes] of inputs) {
    await assert.rejects(preprocessImage(bytes), UNSUPPORTED, what);
  }
});

test('bad options are named', async () => {
  const png = readFileSync(path.join(FIXTURE, 'inputs/image.png'));
  await assert.rejects(preprocessImage(png, { size: 0 }), /size must be a positive integer/);
  await assert.rejects(preprocessImage(png, { mean: [0.5, 0.5] }), /mean and std need 3 values/);
  await assert.rejects(preprocessImage(png, { std: [0.2, 0, 0.2] }), /std values must be positive/);
});
