#!/usr/bin/env node
// kubectl-d7y: found by kubectl's plugin discovery on PATH, so `kubectl d7y ...` runs it.
import { execute } from "@oclif/core";

await execute({ dir: import.meta.url });
