import JobsGet from "./jobs/get.js";
import JobsList from "./jobs/list.js";
import PeersList from "./peers/list.js";
import Preheat from "./preheat.js";
import Status from "./status.js";
import TaskGet from "./task/get.js";
import Top from "./top.js";

/** oclif's explicit command discovery (package.json "oclif.commands"): ids use ":" between topic and command. */
export const COMMANDS = {
  preheat: Preheat,
  "jobs:list": JobsList,
  "jobs:get": JobsGet,
  "peers:list": PeersList,
  status: Status,
  top: Top,
  "task:get": TaskGet,
};
