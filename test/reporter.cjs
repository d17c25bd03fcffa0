// Mocha's spec reporter, plus one plain closing line ("N passed, N failed, N skipped") that CI reads.
const Mocha = require("mocha");

class D7yReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats ?? this.stats;
      process.stdout.write(`\n${passes} passed, ${failures} failed, ${pending} skipped\n`);
    });
  }
}

module.exports = D7yReporter;
