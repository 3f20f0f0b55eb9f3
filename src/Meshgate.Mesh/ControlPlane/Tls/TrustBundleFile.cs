using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Meshgate.Mesh.ControlPlane.Tls;

/// <summary>
/// Writes the CA's trust bundle (every root trusted now, PEM) to a file for out-of-band distribution to workloads
/// (their mesh.controlPlaneCa). Written whole to a temporary file and renamed over the old one, so a reader never sees half.
/// </summary>
internal static class TrustBundleFile
{
    public static string Pem(IEnumerable<X509Certificate2> roots)
    {
        var pem = new StringBuilder();
        foreach (var root in roots) pem.Append(root.ExportCertificatePem()).Append('\n');
        return pem.ToString();
    }

    public static void Write(string path, IEnumerable<X509Certificate2> roots)
    {
        var full = Path.GetFullPath(path);
        var temporary = full + ".tmp";
        File.WriteAllText(temporary, Pem(roots), Encoding.ASCII);
        File.Move(temporary, full, overwrite: true);
    }
}
