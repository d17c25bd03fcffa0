export const MIN_PIECE_LENGTH = 4 * 1024 * 1024;
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024;

/** Piece length for a content length: next power of two of length/500, clamped to [4 MiB, 64 MiB]. */
export function pieceLengthFor(contentLength: number): number {
  const target = Math.ceil(contentLength / 500);
  let length = MIN_PIECE_LENGTH;
  while (length < target && length < MAX_PIECE_LENGTH) length *= 2;
  return length;
}

export function pieceCountFor(contentLength: number, pieceLength: number): number {
  return contentLength === 0 ? 0 : Math.ceil(contentLength / pieceLength);
}

export interface PieceSpan {
  number: number;
  offset: number;
  length: number;
}

export function pieceSpan(number: number, contentLength: number, pieceLength: number): PieceSpan {
  const offset = number * pieceLength;
  if (number < 0 || offset >= contentLength) throw new RangeError(`piece ${number} is outside the content`);
  return { number, offset, length: Math.min(pieceLength, contentLength - offset) };
}

/** Pieces covering the bytes [start, end] (inclusive). */
export function piecesCovering(start: number, end: number, pieceLength: number): { first: number; last: number } {
  return { first: Math.floor(start / pieceLength), last: Math.floor(end / pieceLength) };
}
