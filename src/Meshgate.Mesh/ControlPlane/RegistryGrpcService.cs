using Grpc.Core;
using Meshgate.Mesh.V1;
using Microsoft.Extensions.Logging;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>The Registry gRPC API over <see cref="ServiceRegistry"/>.</summary>
internal sealed class RegistryGrpcService(ServiceRegistry registry, ILogger<RegistryGrpcService> logger) : Registry.RegistryBase
{
    public override Task<Lease> Register(RegisterRequest request, ServerCallContext context)
    {
        if (ServiceRegistry.Validate(request.Service, request.InstanceId, request.Address, request.Port) is { } problem)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
        }
        var instance = registry.Register(request.Service, request.InstanceId, request.Address, request.Port, request.Labels);
        ControlPlaneLog.Registered(logger, instance.Service, instance.InstanceId, instance.Address, instance.Port);
        return Task.FromResult(LeaseOf(instance));
    }

    public override Task<Lease> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.InstanceId)) throw new RpcException(new Status(StatusCode.InvalidArgument, "instance_id must not be empty"));
        var instance = registry.Heartbeat(request.InstanceId)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"instance '{request.InstanceId}' is not registered (or its lease ran out): register again"));
        return Task.FromResult(LeaseOf(instance));
    }

    public override Task<DeregisterReply> Deregister(DeregisterRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.InstanceId)) throw new RpcException(new Status(StatusCode.InvalidArgument, "instance_id must not be empty"));
        var removed = registry.Deregister(request.InstanceId);
        if (removed) ControlPlaneLog.Deregistered(logger, request.InstanceId);
        return Task.FromResult(new DeregisterReply { Removed = removed });
    }

    private Lease LeaseOf(RegisteredInstance instance) => new()
    {
        InstanceId = instance.InstanceId,
        TtlMs = (long)registry.Ttl.TotalMilliseconds,
        ExpiresUnixMs = instance.ExpiresAt.ToUnixTimeMilliseconds(),
    };
}
