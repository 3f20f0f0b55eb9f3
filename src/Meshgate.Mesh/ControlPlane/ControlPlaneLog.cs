using Meshgate.Common;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.ControlPlane;

internal static partial class ControlPlaneLog
{
    [LoggerMessage(EventId = EventIds.ControlPlane + 1, Level = LogLevel.Information, Message = "registered {Service}/{InstanceId} at {Address}:{Port}")]
    public static partial void Registered(ILogger logger, string service, string instanceId, string address, int port);

    [LoggerMessage(EventId = EventIds.ControlPlane + 2, Level = LogLevel.Information, Message = "deregistered {InstanceId}")]
    public static partial void Deregistered(ILogger logger, string instanceId);

    [LoggerMessage(EventId = EventIds.ControlPlane + 3, Level = LogLevel.Warning, Message = "{Count} instance(s) expired: no heartbeat within the lease")]
    public static partial void Expired(ILogger logger, int count);

    [LoggerMessage(EventId = EventIds.ControlPlane + 4, Level = LogLevel.Debug, Message = "snapshot version {Version} made ({Services} services)")]
    public static partial void Published(ILogger logger, long version, int services);

    [LoggerMessage(EventId = EventIds.ControlPlane + 5, Level = LogLevel.Warning, Message = "proxy {ProxyId} refused version {Version}: {Reason}")]
    public static partial void Nacked(ILogger logger, string proxyId, long version, string reason);

    [LoggerMessage(EventId = EventIds.ControlPlane + 6, Level = LogLevel.Error, Message = "cannot write the state file {Path}")]
    public static partial void StateWriteFailed(ILogger logger, Exception exception, string path);

    [LoggerMessage(EventId = EventIds.ControlPlane + 7, Level = LogLevel.Information, Message = "restored {Count} instance(s) and version {Version} from {Path}")]
    public static partial void Restored(ILogger logger, int count, long version, string path);

    [LoggerMessage(EventId = EventIds.ControlPlane + 8, Level = LogLevel.Information, Message = "policies reloaded from {Path}: {Services} service(s)")]
    public static partial void PoliciesReloaded(ILogger logger, string path, int services);

    [LoggerMessage(EventId = EventIds.ControlPlane + 9, Level = LogLevel.Error, Message = "policies file {Path} not applied, the previous policies stay: {Errors}")]
    public static partial void PoliciesRejected(ILogger logger, string path, string errors);

    [LoggerMessage(EventId = EventIds.ControlPlaneTls + 3, Level = LogLevel.Information, Message = "wrote the mesh trust bundle ({Count} root(s)) to {Path}: give it to workloads as mesh.controlPlaneCa")]
    public static partial void TrustBundleWritten(ILogger logger, string path, int count);
}
