using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Meshgate.Configuration.Sources.Etcd.Canary;

/// <summary>
/// The canary's keys, beside the config's prefix rather than under it (so they are not part of the config, and a
/// node's report does not make every admin write a conflict): for the config prefix <c>/meshgate/config/</c> they are
/// under <c>/meshgate/config-canary/</c>: <c>plan</c> (the running canary, held by the pushing command's lease),
/// <c>nodes/&lt;id&gt;</c> (each live node's report, held by the node's lease), <c>progress</c> and <c>decision</c>.
/// </summary>
public sealed class EtcdCanaryStore(EtcdConfigStore config)
{
    public EtcdConfigStore Config => config;

    /// <summary>The prefix of the canary's keys: the config prefix without its last '/', then "-canary/".</summary>
    public string Prefix { get; } = config.Prefix[..^1] + "-canary/";

    public string PlanKey => Prefix + "plan";
    public string NodesFolder => Prefix + "nodes/";
    public string ProgressKey => Prefix + "progress";
    public string DecisionKey => Prefix + "decision";

    /// <summary>The running canary, or null; with the key's modification revision (for a delete that must not remove a newer plan).</summary>
    public async Task<(CanaryPlan? Plan, long ModRevision)> ReadPlanAsync(CancellationToken cancellationToken = default)
    {
        var found = await CallAsync(kv => kv.RangeAsync(new RangeRequest { Key = Utf8(PlanKey) }, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);
        return found.Kvs.Count == 0 ? (null, 0) : (Parse(found.Kvs[0].Value, CanaryJsonContext.Default.CanaryPlan), found.Kvs[0].ModRevision);
    }

    /// <summary>Writes the plan under <paramref name="lease"/> if no plan is there; false when one is (another canary runs).</summary>
    public async Task<bool> CreatePlanAsync(CanaryPlan plan, long lease, CancellationToken cancellationToken = default)
    {
        var transaction = new TxnRequest();
        transaction.Compare.Add(new Compare { Key = Utf8(PlanKey), Target = Compare.Types.CompareTarget.Version, Result = Compare.Types.CompareResult.Equal, Version = 0 });
        transaction.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = Utf8(PlanKey), Value = Serialize(plan, CanaryJsonContext.Default.CanaryPlan), Lease = lease } });
        var response = await CallAsync(kv => kv.TxnAsync(transaction, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);
        return response.Succeeded;
    }

    /// <summary>
    /// Ends the canary without promoting it: removes the plan read at <paramref name="modRevision"/> and writes the
    /// decision, in one transaction (so whoever sees the plan gone finds its decision); false when the plan was already
    /// gone or replaced, and then nothing is written.
    /// </summary>
    public async Task<bool> RollBackAsync(long modRevision, CanaryReading decision, CancellationToken cancellationToken = default)
    {
        var transaction = new TxnRequest();
        transaction.Compare.Add(new Compare { Key = Utf8(PlanKey), Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Equal, ModRevision = modRevision });
        transaction.Success.Add(DeletePlan());
        transaction.Success.Add(PutDecision(decision));
        var response = await CallAsync(kv => kv.TxnAsync(transaction, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);
        return response.Succeeded;
    }

    /// <summary>
    /// Promotion: the candidate becomes the config in etcd, the plan goes and the decision is written, in one
    /// transaction, and only if the config is still the one the canary started from (else nothing is written: false).
    /// </summary>
    public async Task<bool> PromoteAsync(CanaryPlan plan, CanaryReading decision, CancellationToken cancellationToken = default)
    {
        var write = await config.WriteAsync(plan.Candidate, plan.BaseRevision, [DeletePlan(), PutDecision(decision)], cancellationToken);
        return write.Written;
    }

    /// <summary>A decision for a canary whose plan vanished without one (its command's lease ran out); every node that notices writes the same.</summary>
    public async Task WriteDecisionAsync(CanaryReading decision, CancellationToken cancellationToken = default) =>
        await CallAsync(kv => kv.PutAsync(new PutRequest { Key = Utf8(DecisionKey), Value = Serialize(decision, CanaryJsonContext.Default.CanaryReading) }, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);

    private RequestOp DeletePlan() => new() { RequestDeleteRange = new DeleteRangeRequest { Key = Utf8(PlanKey) } };

    private RequestOp PutDecision(CanaryReading decision) => new() { RequestPut = new PutRequest { Key = Utf8(DecisionKey), Value = Serialize(decision, CanaryJsonContext.Default.CanaryReading) } };

    public async Task<IReadOnlyList<CanaryNodeReport>> ReadNodesAsync(CancellationToken cancellationToken = default)
    {
        var start = Utf8(NodesFolder);
        var end = start.ToByteArray();
        end[^1]++;
        var found = await CallAsync(kv => kv.RangeAsync(new RangeRequest { Key = start, RangeEnd = ByteString.CopyFrom(end) }, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);
        return found.Kvs.Select(kv => Parse(kv.Value, CanaryJsonContext.Default.CanaryNodeReport)).OfType<CanaryNodeReport>().ToList();
    }

    public async Task PublishAsync(CanaryNodeReport report, long lease, CancellationToken cancellationToken = default) =>
        await CallAsync(kv => kv.PutAsync(new PutRequest { Key = Utf8(NodesFolder + report.Node), Value = Serialize(report, CanaryJsonContext.Default.CanaryNodeReport), Lease = lease }, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);

    /// <summary>The running canary's figures so far, for every node's admin API.</summary>
    public async Task WriteProgressAsync(CanaryReading reading, CancellationToken cancellationToken = default) =>
        await CallAsync(kv => kv.PutAsync(new PutRequest { Key = Utf8(ProgressKey), Value = Serialize(reading, CanaryJsonContext.Default.CanaryReading) }, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);

    public async Task<CanaryReading?> ReadReadingAsync(string key, CancellationToken cancellationToken = default)
    {
        var found = await CallAsync(kv => kv.RangeAsync(new RangeRequest { Key = Utf8(key) }, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);
        return found.Kvs.Count == 0 ? null : Parse(found.Kvs[0].Value, CanaryJsonContext.Default.CanaryReading);
    }

    public async Task<long> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        var seconds = Math.Max(2, (long)Math.Ceiling(ttl.TotalSeconds));
        var lease = await CallLeaseAsync(leases => leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = seconds }, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);
        return lease.ID;
    }

    /// <summary>Renews the lease; false when it had already run out (its keys are gone).</summary>
    public async Task<bool> KeepAliveAsync(long lease, CancellationToken cancellationToken = default)
    {
        try
        {
            using var call = config.Client.GetConnection().LeaseClient.LeaseKeepAlive(deadline: config.Deadline(), cancellationToken: cancellationToken);
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = lease }, cancellationToken);
            if (!await call.ResponseStream.MoveNext(cancellationToken)) throw new RpcException(new Status(StatusCode.Unavailable, "the keep-alive stream ended without an answer"));
            var ttl = call.ResponseStream.Current.TTL;
            await call.RequestStream.CompleteAsync();
            return ttl > 0;
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw config.Unavailable(e);
        }
    }

    /// <summary>Ends the lease at once, and with it the keys it holds (a plan, a node's report).</summary>
    public async Task RevokeLeaseAsync(long lease, CancellationToken cancellationToken = default) =>
        await CallLeaseAsync(leases => leases.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, deadline: config.Deadline(), cancellationToken: cancellationToken).ResponseAsync);

    private async Task<T> CallAsync<T>(Func<KV.KVClient, Task<T>> call)
    {
        try
        {
            return await call(config.Client.GetConnection().KVClient);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw config.Unavailable(e);
        }
    }

    private async Task<T> CallLeaseAsync<T>(Func<Lease.LeaseClient, Task<T>> call)
    {
        try
        {
            return await call(config.Client.GetConnection().LeaseClient);
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled)
        {
            throw config.Unavailable(e);
        }
    }

    private static ByteString Utf8(string text) => ByteString.CopyFromUtf8(text);

    private static ByteString Serialize<T>(T value, JsonTypeInfo<T> type) => ByteString.CopyFrom(JsonSerializer.SerializeToUtf8Bytes(value, type));

    /// <summary>Null for a value that is not the expected JSON (written by hand, or by another version): treated as absent.</summary>
    private static T? Parse<T>(ByteString value, JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(value.Span, type);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// Compiled System.Text.Json metadata for the canary's records in etcd (the web defaults, as every node and the push
/// command read them): the Native AOT build cannot serialize them by reflection.
/// </summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[System.Text.Json.Serialization.JsonSerializable(typeof(CanaryPlan))]
[System.Text.Json.Serialization.JsonSerializable(typeof(CanaryReading))]
[System.Text.Json.Serialization.JsonSerializable(typeof(CanaryNodeReport))]
internal sealed partial class CanaryJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
