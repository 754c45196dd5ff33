// Sends structured events with the real @snowplow/node-tracker to a collector, for the round-trip tests.
// Usage: node send_structured_events.cjs <collector base URL> <domain_userid> <JSON list of values>
// Exits 0 once every event was acknowledged by the collector, 1 otherwise.
"use strict";

const { newTracker, buildStructEvent } = require("@snowplow/node-tracker");

async function main() {
  const [base, domainUserId, valuesJson] = process.argv.slice(2);
  const url = new URL(base);
  const values = JSON.parse(valuesJson);
  let failures = 0;
  const tracker = newTracker(
    { namespace: "node-roundtrip", appId: "node-roundtrip" },
    {
      endpoint: url.hostname,
      port: Number(url.port),
      protocol: url.protocol.replace(":", ""),
      eventMethod: "post",
      bufferSize: 1,
      onRequestFailure: (failure) => {
        failures += 1;
        console.error("collector refused a request:", failure.status, failure.message);
      },
    },
  );
  tracker.setDomainUserId(domainUserId);
  for (const value of values) {
    tracker.track(buildStructEvent({ category: "video", action: "play", label: "trailer", value }));
  }
  await tracker.flush();
  process.exit(failures ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
