namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>A CSR the CA will not sign; the message says why and goes back to the caller as InvalidArgument.</summary>
internal sealed class CsrRejectedException(string message) : Exception(message);
