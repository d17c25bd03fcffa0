export { type Component, type Supervisor, type SupervisorLogger, stopOnSignals, supervise } from "./component.js";
