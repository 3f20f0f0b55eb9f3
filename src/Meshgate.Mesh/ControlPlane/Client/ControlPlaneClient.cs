using Grpc.Core;
using Grpc.Net.Client;
using Meshgate.Mesh.V1;

namespace Meshgate.Mesh.ControlPlane.Client;

/// <summary>How a proxy's watch reconnects after the control plane goes away.</summary>
public sealed record ControlPlaneClientOptions
{
    /// <summary>First wait after a failed or ended watch; doubles per failure up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>
/// The proxy side of config distribution (for sidecars and the gateway): watches, hands each snapshot to
/// <c>apply</c>, ACKs it (apply returned null) or NACKs it with apply's error, and when the watch fails or ends
/// reconnects with exponential backoff and jitter, reset once a snapshot arrives again.
/// </summary>
public sealed class ControlPlaneClient(
    GrpcChannel channel,
    string proxyId,
    string kind,
    Func<MeshSnapshot, CancellationToken, Task<string?>> apply,
    ControlPlaneClientOptions? options = null)
{
    private readonly Distribution.DistributionClient _client = new(channel);
    private readonly ControlPlaneClientOptions _options = options ?? new ControlPlaneClientOptions();
    private long _appliedVersion;
    private int _connections;

    /// <summary>The last version apply accepted; 0 before the first.</summary>
    public long AppliedVersion => Interlocked.Read(ref _appliedVersion);

    /// <summary>Why the last watch ended, when it failed; null before any failure.</summary>
    public string? LastError { get; private set; }

    /// <summary>How many watch calls have been started (1 + reconnects).</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Runs until the token is cancelled; never throws for the control plane being away.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = _options.InitialBackoff;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                Interlocked.Increment(ref _connections);
                using var call = _client.Watch(new WatchRequest { ProxyId = proxyId, Kind = kind }, cancellationToken: cancellationToken);
                await foreach (var snapshot in call.ResponseStream.ReadAllAsync(cancellationToken))
                {
                    backoff = _options.InitialBackoff;
                    var error = await apply(snapshot, cancellationToken);
                    if (error is null) Interlocked.Exchange(ref _appliedVersion, snapshot.Version);
                    await _client.AckAsync(new AckRequest { ProxyId = proxyId, Version = snapshot.Version, Accepted = error is null, Error = error ?? "" }, cancellationToken: cancellationToken);
                }
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // The control plane is down, restarting or refused us (an RpcException), or the stream broke some other
                // way while it shut down: wait and watch again; the proxy keeps its config. Letting it escape would end
                // the watch for good, and with it (as a failed hosted service) the whole proxy.
                LastError = e.Message;
            }
            catch (Exception e) when (e is OperationCanceledException or RpcException && cancellationToken.IsCancellationRequested)
            {
                return;
            }
            try
            {
                await Task.Delay(backoff * (0.5 + Random.Shared.NextDouble() / 2), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
        }
    }
}
