// Image preprocessing as LaVIN's eval does it with PIL + torchvision:
//   Image.open(f).convert('RGB') -> Resize((224, 224), BICUBIC) -> ToTensor() -> Normalize(ImageNet)
// sharp only decodes (no resize: its bicubic differs from Pillow's). The resize is Pillow's own
// algorithm (libImaging/Resample.c, Pillow 9.4) in integer arithmetic, so pixels match Pillow exactly.
//
// Decoding choices, all to match PIL:
// - alpha is dropped, not composited (PIL's RGBA -> RGB convert discards it);
// - EXIF orientation is NOT applied (PIL's Image.open does not rotate);
// - embedded ICC profiles are ignored (PIL does not colour-manage on convert('RGB'));
// - grey images are replicated to three channels; GIF and WebP animations give their first frame.
// Known differences (rare inputs): CMYK JPEGs go through libvips' CMYK->sRGB transform, 16-bit PNGs
// are reduced by libvips' scaling (PIL clips 16-bit grey to 0..255), and transparent GIF pixels come
// out as libvips decodes them rather than as the palette colour of the transparent index.

import sharp from 'sharp';
import type { OutputInfo } from 'sharp';

export interface PreprocessOptions {
  /** Output side in pixels (square). Default 224. */
  size?: number;
  /** Per-channel mean, RGB. Default ImageNet (0.485, 0.456, 0.406). */
  mean?: number[];
  /** Per-channel std, RGB. Default ImageNet (0.229, 0.224, 0.225). */
  std?: number[];
  /** Largest accepted encoded size. Default 20 MB. */
  maxBytes?: number;
  /** Largest accepted width x height. Default 50 megapixels. */
  maxPixels?: number;
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];
const DEFAULT_MAX_BYTES = 20 * 1024 * 1024;
const DEFAULT_MAX_PIXELS = 50_000_000;
const UNSUPPORTED = 'not a supported image (PNG, JPEG, WebP, GIF)';

/** Decoded 8-bit RGB, interleaved, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Encoded image bytes -> normalised CHW float32 [3, size, size], as LaVIN's eval transform. */
export async function preprocessImage(bytes: Uint8Array, opts: PreprocessOptions = {}): Promise<Float32Array> {
  const size = opts.size ?? 224;
  const mean = opts.mean ?? IMAGENET_MEAN;
  const std = opts.std ?? IMAGENET_STD;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`image size must be a positive integer, got ${size}`);
  if (mean.length !== 3 || std.length !== 3) throw new RangeError('image mean and std need 3 values (R, G, B)');
  if (std.some((s) => !(s > 0))) throw new RangeError(`image std values must be positive, got ${std.join(', ')}`);
  const rgb = await decodeRgb(bytes, opts);
  const resized = resizeBicubicPillow(rgb, size, size);
  return toNormalizedChw(resized, mean, std);
}

export async function decodeRgb(bytes: Uint8Array, opts: Pick<PreprocessOptions, 'maxBytes' | 'maxPixels'> = {}): Promise<RgbImage> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (bytes.length > maxBytes) {
    throw new Error(`image is too large: ${formatMB(bytes.length)} exceeds the ${formatMB(maxBytes)} limit`);
  }
  const format = sniffFormat(bytes);
  if (!format) throw new Error(`${UNSUPPORTED}: unrecognised file signature`);
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, { limitInputPixels: maxPixels, ignoreIcc: true, pages: 1, page: 0 })
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) {
      throw new Error(`image has too many pixels: over the ${(maxPixels / 1e6).toFixed(1)} megapixel limit (${message})`);
    }
    throw new Error(`${UNSUPPORTED}: the ${format} data could not be decoded (${message})`);
  }
  const { width, height, channels } = raw.info;
  return { width, height, data: toRgb(raw.data, width * height, channels) };
}

function formatMB(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** Only these four formats are accepted, whatever else sharp could decode (SVG, TIFF, HEIF...). */
function sniffFormat(b: Uint8Array): 'PNG' | 'JPEG' | 'WebP' | 'GIF' | undefined {
  const ascii = (start: number, end: number): string => String.fromCharCode(...b.subarray(start, end));
  if (b.length >= 8 && b[0] === 0x89 && ascii(1, 8) === 'PNG\r\n\x1a\n') return 'PNG';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'JPEG';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'GIF';
  return undefined;
}

/** Like PIL's convert('RGB'): grey is replicated, alpha is dropped. */
function toRgb(src: Buffer, pixels: number, channels: number): Uint8Array {
  if (channels === 3) return new Uint8Array(src.buffer, src.byteOffset, pixels * 3);
  if (channels < 1 || channels > 4) throw new Error(`${UNSUPPORTED}: decoded to ${channels} channels`);
  const out = new Uint8Array(pixels * 3);
  const grey = channels <= 2;
  for (let p = 0, i = 0; p < pixels; p++, i += channels) {
    out[p * 3] = src[i];
    out[p * 3 + 1] = src[grey ? i : i + 1];
    out[p * 3 + 2] = src[grey ? i : i + 2];
  }
  return out;
}

// --- Pillow's ImagingResample (libImaging/Resample.c), 8 bits per channel, bicubic ---

/** Fixed-point fraction bits: 32 bits less 8 for the pixel, less 2 for filter overshoot. */
const PRECISION_BITS = 32 - 8 - 2;
const BICUBIC_SUPPORT = 2.0;

/** Keys' cubic with a = -0.5, written in Pillow's operation order so the doubles are identical. */
function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

interface Coefficients {
  ksize: number;
  /** Per output index: first input index and tap count. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output index. */
  weights: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc for the box [in0, in1) of an axis of inSize samples. */
function precomputeCoeffs(inSize: number, in0: number, in1: number, outSize: number): Coefficients {
  const scale = (in1 - in0) / outSize;
  const filterScale = scale < 1.0 ? 1.0 : scale;
  const support = BICUBIC_SUPPORT * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1.0 / filterScale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    // C's (int) cast truncates; negatives clamp to 0 either way.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubicFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0.0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

/** clip8: drop the fraction bits (arithmetic shift, as C's >> on int) and clamp to a byte. */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

const HALF = 1 << (PRECISION_BITS - 1);

// Accumulation is int32 (Math.imul, | 0) like Pillow's INT32 sums; PRECISION_BITS leaves the headroom
// that keeps them from overflowing, so the results are identical and V8 stays on integer paths.

/** Horizontal pass over rows [rowStart, rowStart + rows) of an interleaved RGB image. */
function resampleHorizontal(src: RgbImage, rowStart: number, rows: number, outWidth: number, c: Coefficients): RgbImage {
  const out = new Uint8Array(outWidth * rows * 3);
  const data = src.data;
  const { ksize, bounds, weights } = c;
  const inStride = src.width * 3;
  for (let yy = 0; yy < rows; yy++) {
    const rowBase = (yy + rowStart) * inStride;
    let o = yy * outWidth * 3;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2];
      const xmax = bounds[xx * 2 + 1];
      const kBase = xx * ksize;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      let p = rowBase + xmin * 3;
      for (let x = 0; x < xmax; x++, p += 3) {
        const w = weights[kBase + x];
        s0 = (s0 + Math.imul(data[p], w)) | 0;
        s1 = (s1 + Math.imul(data[p + 1], w)) | 0;
        s2 = (s2 + Math.imul(data[p + 2], w)) | 0;
      }
      out[o++] = clip8(s0);
      out[o++] = clip8(s1);
      out[o++] = clip8(s2);
    }
  }
  return { width: outWidth, height: rows, data: out };
}

/** Vertical pass; bounds are relative to src's first row. */
function resampleVertical(src: RgbImage, outHeight: number, c: Coefficients, rowShift: number): RgbImage {
  const width = src.width;
  const stride = width * 3;
  const data = src.data;
  const out = new Uint8Array(stride * outHeight);
  const { ksize, bounds, weights } = c;
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2] - rowShift;
    const ymax = bounds[yy * 2 + 1];
    const kBase = yy * ksize;
    acc.fill(HALF);
    // Row by row keeps the reads sequential; each output still sums its taps in Pillow's order.
    for (let y = 0; y < ymax; y++) {
      const w = weights[kBase + y];
      const rowBase = (ymin + y) * stride;
      for (let i = 0; i < stride; i++) acc[i] = (acc[i] + Math.imul(data[rowBase + i], w)) | 0;
    }
    const o = yy * stride;
    for (let i = 0; i < stride; i++) out[o + i] = clip8(acc[i]);
  }
  return { width, height: outHeight, data: out };
}

/**
 * Pillow's Image.resize((outWidth, outHeight), BICUBIC) on an RGB image (box = whole image, no
 * reducing_gap): separable, antialiased (support scaled by the downscale factor), horizontal pass first
 * on only the rows the vertical pass reads, 8-bit rounding and clipping between the passes.
 */
export function resizeBicubicPillow(src: RgbImage, outWidth: number, outHeight: number): RgbImage {
  if (src.width === outWidth && src.height === outHeight) return { ...src, data: src.data.slice() };
  const horiz = precomputeCoeffs(src.width, 0, src.width, outWidth);
  const vert = precomputeCoeffs(src.height, 0, src.height, outHeight);
  let image = src;
  let rowShift = 0;
  if (outWidth !== src.width) {
    const firstRow = vert.bounds[0];
    const lastRow = vert.bounds[outHeight * 2 - 2] + vert.bounds[outHeight * 2 - 1];
    image = resampleHorizontal(src, firstRow, lastRow - firstRow, outWidth, horiz);
    rowShift = firstRow;
  }
  if (outHeight !== src.height) image = resampleVertical(image, outHeight, vert, rowShift);
  return image;
}

/** torchvision ToTensor (x / 255) then Normalize ((x - mean) / std), each step rounded to float32. */
export function toNormalizedChw(img: RgbImage, mean: number[], std: number[]): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    // 256-entry table: the same byte always gives the same float.
    const table = new Float32Array(256);
    for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    for (let p = 0; p < plane; p++) out[c * plane + p] = table[img.data[p * 3 + c]];
  }
  return out;
}
