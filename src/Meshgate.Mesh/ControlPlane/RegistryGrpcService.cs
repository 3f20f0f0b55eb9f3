using Grpc.Core;
using Meshgate.Mesh.V1;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>The Registry gRPC API over the control plane's <see cref="IMeshStore"/>.</summary>
internal sealed class RegistryGrpcService(IMeshStore store, ILogger<RegistryGrpcService> logger) : Registry.RegistryBase
{
    public override async Task<Lease> Register(RegisterRequest request, ServerCallContext context)
    {
        if (ServiceRegistry.Validate(request.Service, request.InstanceId, request.Address, request.Port) is { } problem)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
        }
        var instance = await Unavailable(() => store.RegisterAsync(request.Service, request.InstanceId, request.Address, request.Port, request.Labels, context.CancellationToken));
        ControlPlaneLog.Registered(logger, instance.Service, instance.InstanceId, instance.Address, instance.Port);
        return LeaseOf(instance);
    }

    public override async Task<Lease> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.InstanceId)) throw new RpcException(new Status(StatusCode.InvalidArgument, "instance_id must not be empty"));
        var instance = await Unavailable(() => store.HeartbeatAsync(request.InstanceId, context.CancellationToken))
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"instance '{request.InstanceId}' is not registered (or its lease ran out): register again"));
        return LeaseOf(instance);
    }

    public override async Task<DeregisterReply> Deregister(DeregisterRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.InstanceId)) throw new RpcException(new Status(StatusCode.InvalidArgument, "instance_id must not be empty"));
        var removed = await Unavailable(() => store.DeregisterAsync(request.InstanceId, context.CancellationToken));
        if (removed) ControlPlaneLog.Deregistered(logger, request.InstanceId);
        return new DeregisterReply { Removed = removed };
    }

    /// <summary>A store that cannot be reached is the caller's Unavailable (retry later, maybe on another replica), with the store's reason.</summary>
    private static async Task<T> Unavailable<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (MeshStoreUnavailableException e)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, e.Message));
        }
    }

    private Lease LeaseOf(RegisteredInstance instance) => new()
    {
        InstanceId = instance.InstanceId,
        TtlMs = (long)store.Ttl.TotalMilliseconds,
        ExpiresUnixMs = instance.ExpiresAt.ToUnixTimeMilliseconds(),
    };
}
