export { createRpcClient } from "./client.js";
export { type ErrorKind, toConnectError } from "./errors.js";
export { type RpcServer, type RpcServerOptions, startRpcServer } from "./server.js";
export { every, keepRunning } from "./ticker.js";
