namespace Meshgate.Common;

/// <summary>The one <c>System.Diagnostics.Metrics</c> meter every Meshgate instrument belongs to, so an exporter subscribes to one name.</summary>
public static class MeshgateMeter
{
    public const string Name = "Meshgate";
}
