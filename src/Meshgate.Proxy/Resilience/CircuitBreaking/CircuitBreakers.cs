using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Meshgate.Proxy.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Resilience.CircuitBreaking;

/// <summary>Which circuit-breaker limit refused a request; the value is what the response header and metrics say.</summary>
internal enum CircuitLimit
{
    MaxConcurrentRequests,
    MaxPendingRequests,
}

/// <summary>
/// The counters behind circuit breaking, kept apart from the compiled limits: a reload changes the limits,
/// and requests in flight stay counted against the new ones (nothing is dropped, nothing is forgotten).
/// </summary>
internal sealed partial class CircuitBreakers(CircuitBreakingMetrics metrics, TimeProvider time, ILogger<CircuitBreakers> logger) : ICircuitBreakerState
{
    /// <summary>Response header on a request refused by a circuit breaker: <c>CLUSTER; limit=LIMIT</c>.</summary>
    public const string CircuitOpenHeader = "x-meshgate-circuit-open";

    public const string ErrorCode = "circuit-open";

    private static readonly TimeSpan WarningEvery = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, ClusterCircuit> _clusters = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConditionalWeakTable<DestinationState, EndpointLoad> _endpoints = new();

    public ClusterCircuit For(string clusterId) => _clusters.GetOrAdd(clusterId, static id => new ClusterCircuit(id));

    public EndpointLoad For(DestinationState destination) => _endpoints.GetValue(destination, static _ => new EndpointLoad());

    public CircuitView? DescribeCircuit(string clusterId) =>
        _clusters.TryGetValue(clusterId, out var circuit)
            ? new CircuitView(Volatile.Read(ref circuit.ActiveRequests), Volatile.Read(ref circuit.RejectedConcurrent), Volatile.Read(ref circuit.RejectedPending))
            : null;

    /// <summary>Answers 503 at once: the request never reaches an upstream.</summary>
    public Task RejectAsync(HttpContext context, ClusterCircuit circuit, CircuitLimit limit)
    {
        var (name, counter) = limit == CircuitLimit.MaxConcurrentRequests
            ? ("max-concurrent-requests", Interlocked.Increment(ref circuit.RejectedConcurrent))
            : ("max-pending-requests", Interlocked.Increment(ref circuit.RejectedPending));
        metrics.Rejected(circuit.ClusterId, name);
        WarnNowAndThen(circuit, name, counter);

        var header = circuit.HeaderValue(limit, name);
        // ProblemResponses clears what was set before it; the header is added as the response starts.
        context.Response.OnStarting(static state =>
        {
            var (response, value) = ((HttpResponse, string))state;
            response.Headers[CircuitOpenHeader] = value;
            return Task.CompletedTask;
        }, (context.Response, header));
        return ProblemResponses.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Circuit open",
            $"The upstream service is at its {name} limit; the request was not forwarded. Retry later.", ErrorCode);
    }

    /// <summary>A warning when a circuit opens, then at most one per cluster every 10 s while it keeps refusing.</summary>
    private void WarnNowAndThen(ClusterCircuit circuit, string limit, long rejectedSoFar)
    {
        var now = time.GetTimestamp();
        var last = Volatile.Read(ref circuit.LastWarning);
        if (last != 0 && time.GetElapsedTime(last, now) < WarningEvery) return;
        if (Interlocked.CompareExchange(ref circuit.LastWarning, now, last) != last) return;
        Log.CircuitOpen(logger, circuit.ClusterId, limit, rejectedSoFar);
    }

    /// <summary>Counters of one cluster. Fields, not properties, so they can be updated with <see cref="Interlocked"/>.</summary>
    internal sealed class ClusterCircuit(string clusterId)
    {
        public readonly string ClusterId = clusterId;
        public int ActiveRequests;
        public long RejectedConcurrent;
        public long RejectedPending;
        public long LastWarning;
        private string? _concurrentHeader;
        private string? _pendingHeader;

        /// <summary>Counts the request in if the cluster is below <paramref name="limit"/>.</summary>
        public bool TryEnter(int limit)
        {
            // Increment first, then compare: two requests racing for the last slot cannot both get it.
            if (Interlocked.Increment(ref ActiveRequests) <= limit) return true;
            Interlocked.Decrement(ref ActiveRequests);
            return false;
        }

        public void Exit() => Interlocked.Decrement(ref ActiveRequests);

        /// <summary>
        /// <c>CLUSTER; limit=NAME</c>. Cluster ids may hold any character, a header value may not: the id is
        /// percent-encoded (RFC 3986 unreserved characters stay as they are, so ordinary ids read unchanged).
        /// </summary>
        public string HeaderValue(CircuitLimit limit, string name) => limit == CircuitLimit.MaxConcurrentRequests
            ? _concurrentHeader ??= $"{Uri.EscapeDataString(ClusterId)}; limit={name}"
            : _pendingHeader ??= $"{Uri.EscapeDataString(ClusterId)}; limit={name}";
    }

    /// <summary>Requests Meshgate has sent to one endpoint and not yet finished: on a connection or waiting for one.</summary>
    internal sealed class EndpointLoad
    {
        public int InFlight;

        public bool TryEnter(int limit)
        {
            if (Interlocked.Increment(ref InFlight) <= limit) return true;
            Interlocked.Decrement(ref InFlight);
            return false;
        }

        public void Exit() => Interlocked.Decrement(ref InFlight);
    }
}

/// <summary>What circuit breaking has counted for a cluster, for the admin API.</summary>
public interface ICircuitBreakerState
{
    /// <summary>Null when no request of the cluster has met a limit-checking step yet.</summary>
    CircuitView? DescribeCircuit(string clusterId);
}

/// <param name="ActiveRequests">Requests of the cluster in flight now (counted only when maxConcurrentRequests is set).</param>
/// <param name="RejectedMaxConcurrentRequests">Requests refused at maxConcurrentRequests since start.</param>
/// <param name="RejectedMaxPendingRequests">Requests refused at maxPendingRequests since start.</param>
public sealed record CircuitView(int ActiveRequests, long RejectedMaxConcurrentRequests, long RejectedMaxPendingRequests);
