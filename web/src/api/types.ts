/** Names for the wire types, all taken from the generated OpenAPI types (schema.d.ts). */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Tokens = Schemas["Tokens"];
export type Me = Schemas["Me"];
export type Video = Schemas["Video"];
export type VideoCreated = Schemas["VideoCreated"];
export type VideoIngest = Schemas["VideoIngest"];
export type PutUpload = Schemas["PutUpload"];
export type MultipartUpload = Schemas["MultipartUpload"];
export type CompletedPart = Schemas["CompletedPart"];
export type VideoObject = Schemas["VideoObject"];
export type ObjectCreate = Schemas["ObjectCreate"];
export type ObjectUpdate = Schemas["ObjectUpdate"];
export type Prompt = Schemas["Prompt"];
export type PromptMask = Schemas["PromptMask"];
export type PromptJob = Schemas["PromptJob"];
export type PromptRecord = Schemas["PromptRecord"];
export type PromptRemoved = Schemas["PromptRemoved"];
export type FrameMask = Schemas["FrameMask"];
export type FrameMasks = Schemas["FrameMasks"];
export type VideoMasks = Schemas["VideoMasks"];
export type PropagationCreate = Schemas["PropagationCreate"];
export type Detection = Schemas["Detection"];
export type DetectionDone = Schemas["DetectionDone"];
export type Direction = PropagationCreate["direction"];
export type Span = Schemas["Span"];
export type Job = Schemas["Job"];
export type JobEnvelope = Schemas["JobEnvelope"];
export type Progress = Schemas["Progress"];
export type Problem = Schemas["Problem"];
export type ExportCreate = Schemas["ExportCreate"];
export type ExportFormat = ExportCreate["format"];
export type Matte = Schemas["Matte"];
export type Dataset = Schemas["Dataset"];

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** `result` of a succeeded export job (api.md, Exports). */
export interface ExportResult {
  download_url: string;
  expires_at: string;
  filename: string;
  size_bytes: number;
}

export const TERMINAL_JOB_STATUSES: ReadonlySet<Job["status"]> = new Set([
  "succeeded",
  "failed",
  "canceled",
]);
