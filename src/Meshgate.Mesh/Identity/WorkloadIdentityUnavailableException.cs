namespace Meshgate.Mesh.Identity;

/// <summary>No workload certificate could be had: the message says why (the CA's refusal, or the control plane unreachable).</summary>
public sealed class WorkloadIdentityUnavailableException(string message) : Exception(message);
