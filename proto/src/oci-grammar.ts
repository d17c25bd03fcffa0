/**
 * The OCI distribution grammar of names both a client (kubectl d7y) and the manager check image
 * references against: repository paths, tags, sha256 digests and registry hosts (with an optional port).
 */
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
export const OCI_REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
export const OCI_TAG = /^[\w][\w.-]{0,127}$/;
export const OCI_DIGEST = /^sha256:[a-f0-9]{64}$/;
export const REGISTRY_HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;
