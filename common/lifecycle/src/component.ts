/** Every long-running part (servers, loops, stores) implements this contract. */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  /** Stops accepting work, finishes or aborts what is in flight, releases resources. Idempotent. */
  stop(): Promise<void>;
}

export interface SupervisorLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Supervisor {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts components in order and stops them in reverse order; a failed start stops what already started. */
export function supervise(components: Component[], logger: SupervisorLogger): Supervisor {
  const started: Component[] = [];
  let stopping: Promise<void> | undefined;
  return {
    async start() {
      for (const component of components) {
        try {
          await component.start();
          started.push(component);
          logger.info({ component: component.name }, "started");
        } catch (error) {
          logger.error({ component: component.name, err: error }, "failed to start");
          await this.stop();
          throw error;
        }
      }
    },
    stop() {
      stopping ??= (async () => {
        for (const component of started.reverse()) {
          try {
            await component.stop();
            logger.info({ component: component.name }, "stopped");
          } catch (error) {
            logger.error({ component: component.name, err: error }, "failed to stop cleanly");
          }
        }
      })();
      return stopping;
    },
  };
}

/** Stops the supervisor on SIGINT/SIGTERM, then exits. A second signal exits at once. */
export function stopOnSignals(supervisor: Supervisor, onDone: (code: number) => void = (code) => process.exit(code)) {
  let received = false;
  const handler = (signal: NodeJS.Signals) => {
    if (received) onDone(130);
    received = true;
    void supervisor.stop().then(
      () => onDone(signal === "SIGINT" ? 130 : 0),
      () => onDone(1),
    );
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}
