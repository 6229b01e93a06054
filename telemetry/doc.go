// Package telemetry reports what dirsync does as OpenTelemetry metrics and
// traces, for hosts that watch their background jobs in the tools they
// already use. It is a leaf: the engine (package dirsync and everything
// below it) never imports OpenTelemetry; only a host that imports this
// package pays for it.
//
// A host wires it in one line, with the providers it has set up globally
// (otel.SetMeterProvider, otel.SetTracerProvider) or passed in Config:
//
//	sy, err := dirsync.New(conn, sink, &dirsync.Options{Source: "acme-ad", Observer: telemetry.New(nil)})
//
// One Observer may serve every integration of a host; each is told apart
// by the dirsync.integration attribute. SCIM requests are counted by
// wrapping the integration's SCIM handler:
//
//	mux.Handle("/scim/v2/acme/", obs.SCIMHandler("acme-scim", scimServer))
//
// # Metrics
//
// All on the meter named ScopeName. Every metric carries
// dirsync.integration (the Syncer's Source).
//
//	name                          kind       unit       attributes
//	dirsync.changes               counter    {change}   dirsync.operation (create, update, block, …),
//	                                                    dirsync.status (applied, failed, skipped, not-attempted)
//	dirsync.run.duration          histogram  s          dirsync.trigger (start, schedule, sync-now),
//	                                                    dirsync.outcome (applied, failed, no-changes,
//	                                                    waiting-for-approval, plan-failed)
//	dirsync.safety.holds          counter    {hold}     dirsync.hold: "removals" (the removals wait for
//	                                                    approval, the rest applied) or "plan" (the whole
//	                                                    plan waits: an empty or suspect read)
//	dirsync.removal_budget.used   gauge      {removal}  blocks and deletes applied within the safety window
//	dirsync.removal_budget.limit  gauge      {removal}  the count limit (absent when only a percentage is set)
//	dirsync.scim.requests         counter    {request}  http.request.method,
//	                                                    dirsync.scim.status_class (2xx, 4xx, 5xx)
//
// dirsync.changes counts every change Apply was given, whatever path
// applied it: a run, Syncer.Apply, ApplyShown, ApprovePending. The run
// metrics count runs of Syncer.Run and RunOnce (scheduled, "sync now", a
// River job); dirsync.run.duration is wall-clock time, from the run's
// start (waiting for the integration's lock included) to its record. The
// removal budget gauges are set as each run or apply ends; the budget
// frees up as the window passes, which they show at the next run.
//
// # Traces
//
// On the tracer named ScopeName, one trace per run, nested as the work is:
//
//	dirsync.run          dirsync.integration, dirsync.trigger; at the end dirsync.outcome,
//	                     dirsync.run.held (removals left waiting) and, on a safety hold,
//	                     an event dirsync.safety.hold with dirsync.hold
//	  dirsync.plan       dirsync.plan.changes, dirsync.incremental, dirsync.plan.over_limit
//	    dirsync.read     the directory read (entries are mapped as they arrive):
//	                     dirsync.incremental, dirsync.read.entries
//	  dirsync.apply      dirsync.trigger, dirsync.apply.applied, .failed, .skipped,
//	                     .not_attempted; an event dirsync.change.failed (dirsync.operation,
//	                     dirsync.change.key, exception.message) for each of the first 10 failures
//
// The context a span starts reaches the connector and the sink, so the
// spans of their own calls (an HTTP client instrumented with otelhttp,
// a database driver) nest under dirsync.read and dirsync.apply. Apply,
// ApplyShown and ApprovePending are not runs: their dirsync.plan and
// dirsync.apply spans start under the caller's context, such as the span
// of the console request that called them.
//
// A span's status is Error when its stage failed: a read or plan that
// failed, changes that failed (the status says how many), a run whose
// outcome is failed or plan-failed. A plan over the safety limits is not
// an error: it is a decision, shown by dirsync.plan.over_limit and the
// run's hold. Error messages recorded on spans are cut to 512 bytes with
// their control characters blanked, and error.type names the kind
// (canceled, deadline_exceeded, panic, plan_changed, change_failed,
// _OTHER).
package telemetry
