using Meshgate.Common;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.ControlPlane.Etcd;

internal static partial class EtcdStoreLog
{
    [LoggerMessage(EventId = EventIds.EtcdStore + 1, Level = LogLevel.Information, Message = "loaded {Instances} instance(s) and the policies from {Store} under {Prefix} at revision {Revision}")]
    public static partial void Loaded(ILogger logger, int instances, string store, string prefix, long revision);

    [LoggerMessage(EventId = EventIds.EtcdStore + 2, Level = LogLevel.Warning, Message = "etcd store lost, serving the last snapshot; registrations fail until it is back: {Reason}")]
    public static partial void Lost(ILogger logger, string reason);

    [LoggerMessage(EventId = EventIds.EtcdStore + 3, Level = LogLevel.Information, Message = "{Store} is back: resynced at revision {Revision}")]
    public static partial void Resynced(ILogger logger, string store, long revision);

    [LoggerMessage(EventId = EventIds.EtcdStore + 4, Level = LogLevel.Warning, Message = "ignored key {Key} under the prefix: {Reason}")]
    public static partial void BadKey(ILogger logger, string key, string reason);

    [LoggerMessage(EventId = EventIds.EtcdStore + 5, Level = LogLevel.Information, Message = "wrote the policies to {Store} ({Services} service(s))")]
    public static partial void PoliciesWritten(ILogger logger, string store, int services);
}
