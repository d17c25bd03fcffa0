export { type Component, type Supervisor, type SupervisorLogger, stopOnSignals, supervise } from "./component.js";
export { exitOnError } from "./exit.js";
export { close as closeServer, listen } from "./http-server.js";
