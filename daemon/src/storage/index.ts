export { ContentStore } from "./content.js";
export { MetadataStore } from "./metadata.js";
export type { PieceRecord, TaskRecord, TaskStatus, TrafficType } from "./records.js";
