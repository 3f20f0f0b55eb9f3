using Grpc.Core;
using Meshgate.Mesh.V1;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>The Distribution gRPC API over <see cref="SnapshotHub"/>.</summary>
/// <remarks>
/// A watch ends when the control plane starts stopping, not when the host's drain gives up: an open stream would hold
/// the shutdown for its whole timeout, while the listener refuses heartbeats and leases run out.
/// </remarks>
internal sealed class DistributionGrpcService(SnapshotHub hub, ILogger<DistributionGrpcService> logger, Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime) : Distribution.DistributionBase
{
    public override async Task Watch(WatchRequest request, IServerStreamWriter<MeshSnapshot> responseStream, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.ProxyId)) throw new RpcException(new Status(StatusCode.InvalidArgument, "proxy_id must not be empty"));
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, lifetime.ApplicationStopping);
        try
        {
            await hub.WatchAsync(request.ProxyId, request.Kind, s => responseStream.WriteAsync(s, ended.Token), ended.Token);
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            // The proxy went away or the control plane is stopping: the call just ends.
        }
    }

    public override Task<AckReply> Ack(AckRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.ProxyId)) throw new RpcException(new Status(StatusCode.InvalidArgument, "proxy_id must not be empty"));
        if (request.Version <= 0) throw new RpcException(new Status(StatusCode.InvalidArgument, $"version must be > 0, got {request.Version}"));
        hub.Ack(request.ProxyId, request.Version, request.Accepted, request.Error);
        if (!request.Accepted) ControlPlaneLog.Nacked(logger, request.ProxyId, request.Version, request.Error);
        return Task.FromResult(new AckReply());
    }
}
