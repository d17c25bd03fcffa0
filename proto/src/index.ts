export { DEFAULT_VIRTUAL_NODES, HashRing } from "./hash-ring.js";
export { OCI_DIGEST, OCI_REPOSITORY, OCI_TAG, REGISTRY_HOST } from "./oci-grammar.js";
export {
  MAX_PIECE_LENGTH,
  MIN_PIECE_LENGTH,
  type PieceSpan,
  pieceCountFor,
  pieceLengthFor,
  pieceSpan,
  piecesCovering,
} from "./piece-layout.js";
export {
  type BlobRef,
  DEFAULT_FILTERED_QUERY_PARAMS,
  filterUrl,
  isSha256Digest,
  parseBlobPath,
  taskIdForDigest,
  taskIdForUrl,
  type UrlTaskIdOptions,
} from "./task-id.js";
