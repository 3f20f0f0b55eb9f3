using Grpc.Core;
using Grpc.Net.Client;
using Meshgate.Mesh.V1;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.Sidecar;

/// <summary>
/// Keeps one service instance in the control plane's registry: registers it, heartbeats at a third of the lease's
/// TTL, registers again when the control plane has forgotten it (a restart without state, a lease that ran out while
/// the control plane was away), and deregisters it at shutdown so callers stop at once instead of after the TTL.
/// The control plane being away is not an error here: the instance keeps trying with backoff, and callers keep
/// the instance from their last snapshot meanwhile.
/// </summary>
public sealed partial class InstanceRegistration(GrpcChannel channel, RegisterRequest instance, ILogger logger, TimeProvider? time = null)
{
    /// <summary>
    /// The registry label holding the sidecar's admin URL (its /metrics), e.g. http://127.0.0.1:15000: how
    /// `meshgate top --mesh` finds every sidecar of the mesh from the control plane's /admin/services.
    /// </summary>
    public const string AdminLabel = "meshgate.admin";

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);
    private readonly Registry.RegistryClient _client = new(channel);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public string InstanceId => instance.InstanceId;

    /// <summary>Registered at least once, and not lost since (a heartbeat that said NotFound clears it until the next registration).</summary>
    public bool Registered { get; private set; }

    /// <summary>
    /// The admin URL others reach the admin listener at: its bound address, with a wildcard host (0.0.0.0, ::) replaced
    /// by <paramref name="advertiseAddress"/> (else 127.0.0.1) and localhost by 127.0.0.1.
    /// </summary>
    public static string AdvertisedAdminUrl(Uri bound, string? advertiseAddress)
    {
        var host = bound.Host.Trim('[', ']');
        if (host is "0.0.0.0" or "::" or "+" or "*") host = advertiseAddress ?? "127.0.0.1";
        else if (host == "localhost") host = "127.0.0.1";
        return new UriBuilder(Uri.UriSchemeHttp, host, bound.Port).Uri.ToString().TrimEnd('/');
    }

    /// <summary>Runs until cancelled; never throws for the control plane being away.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        var interval = TimeSpan.Zero;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var lease = Registered
                    ? await _client.HeartbeatAsync(new HeartbeatRequest { InstanceId = instance.InstanceId }, cancellationToken: cancellationToken)
                    : await RegisterAsync(cancellationToken);
                interval = TimeSpan.FromMilliseconds(Math.Max(100, lease.TtlMs / 3));
                backoff = TimeSpan.FromMilliseconds(200);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && !cancellationToken.IsCancellationRequested)
            {
                Registered = false;
                LogLost(logger, instance.InstanceId);
                continue;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument)
            {
                // Nothing a retry changes: the instance as given is refused (e.g. a bad port); say why and stop.
                LogRefused(logger, instance.InstanceId, e.Status.Detail);
                throw;
            }
            catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
            {
                LogUnreachable(logger, e.Status.Detail, backoff.TotalMilliseconds);
                interval = backoff;
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            try
            {
                await Task.Delay(interval, _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<Lease> RegisterAsync(CancellationToken cancellationToken)
    {
        var lease = await _client.RegisterAsync(instance, cancellationToken: cancellationToken);
        Registered = true;
        LogRegistered(logger, instance.Service, instance.InstanceId, instance.Address, instance.Port, lease.TtlMs);
        return lease;
    }

    /// <summary>Leaves the registry now (best effort, bounded by <paramref name="timeout"/>): callers drop the instance at their next snapshot.</summary>
    public async Task DeregisterAsync(TimeSpan timeout)
    {
        if (!Registered) return;
        try
        {
            await _client.DeregisterAsync(new DeregisterRequest { InstanceId = instance.InstanceId }, deadline: DateTime.UtcNow + timeout);
            Registered = false;
        }
        catch (RpcException e)
        {
            LogDeregisterFailed(logger, instance.InstanceId, e.Status.Detail);
        }
    }

    [LoggerMessage(EventId = Common.EventIds.Sidecar, Level = LogLevel.Information, Message = "registered {Service} instance {InstanceId} at {Address}:{Port} (lease {TtlMs} ms)")]
    private static partial void LogRegistered(ILogger logger, string service, string instanceId, string address, int port, long ttlMs);

    [LoggerMessage(EventId = Common.EventIds.Sidecar + 1, Level = LogLevel.Warning, Message = "the control plane no longer knows instance {InstanceId} (restarted, or its lease ran out): registering again")]
    private static partial void LogLost(ILogger logger, string instanceId);

    [LoggerMessage(EventId = Common.EventIds.Sidecar + 2, Level = LogLevel.Warning, Message = "control plane unreachable for registration ({Reason}); retrying in {BackoffMs} ms")]
    private static partial void LogUnreachable(ILogger logger, string reason, double backoffMs);

    [LoggerMessage(EventId = Common.EventIds.Sidecar + 3, Level = LogLevel.Error, Message = "the control plane refused instance {InstanceId}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string instanceId, string reason);

    [LoggerMessage(EventId = Common.EventIds.Sidecar + 4, Level = LogLevel.Warning, Message = "could not deregister instance {InstanceId} ({Reason}): it leaves the registry when its lease runs out")]
    private static partial void LogDeregisterFailed(ILogger logger, string instanceId, string reason);
}
