namespace Meshgate.Configuration.Sources;

/// <summary>
/// Whether a watched config source (etcd) is in sync: the admin API shows it in /admin/health/ready and
/// /admin/config/status. A node that is not in sync keeps serving its last good config.
/// </summary>
public interface IConfigSourceStatus
{
    /// <summary>The source, e.g. etcd://10.0.0.5:2379/meshgate/config/.</summary>
    string Source { get; }

    /// <summary>Null while the node watches the source and has applied (or rejected) everything in it; else why not.</summary>
    string? NotSyncedReason { get; }

    /// <summary>When the node last knew it had the source's current state.</summary>
    DateTimeOffset LastSyncAt { get; }

    /// <summary>Zero while in sync; else the time since <see cref="LastSyncAt"/>.</summary>
    TimeSpan Stale { get; }
}
