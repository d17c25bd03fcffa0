export { addServiceOptions, integer, type ServiceOptionDefaults } from "./cli.js";
export {
  applyFileVerbose,
  ConfigError,
  configFromOptions,
  mergeLayers,
  readYamlFile,
  setPath,
  validateConfig,
} from "./load.js";
export { byteSizeSchema, durationSchema } from "./schemas.js";
export { formatBytes, parseByteSize, parseDuration } from "./units.js";
