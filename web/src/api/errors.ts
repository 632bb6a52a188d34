import type { Problem } from "./types";

/** An API answer that was not a success, carrying the problem+json body when there was one. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;

  constructor(status: number, problem: Problem | null, fallback: string) {
    super(describeProblem(status, problem, fallback));
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
}

function fieldError(item: Record<string, unknown>): string {
  const field = [item.key, item.field, item.name].find((v) => typeof v === "string");
  const message = typeof item.message === "string" ? item.message : JSON.stringify(item);
  return field ? `${field as string}: ${message}` : message;
}

/** One line for a person: the title, the detail, and any field error the detail leaves out. */
export function describeProblem(status: number, problem: Problem | null, fallback: string): string {
  if (problem === null) return `${fallback} (HTTP ${status})`;
  const detail = problem.detail ?? "";
  let text = detail && detail !== problem.title ? `${problem.title}: ${detail}` : problem.title;
  for (const item of problem.errors ?? []) {
    const line = fieldError(item);
    if (!text.includes(line)) text += ` — ${line}`;
  }
  return text;
}

/** Words for anything thrown: API problems as described, network failures as such. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return `Cannot reach the server (${error.message})`;
  if (error instanceof Error) return error.message;
  return String(error);
}
