using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using UserNet.Stack;

namespace UserNet.AspNetCore;

/// <summary>Serving ASP.NET Core on a UserNet host.</summary>
public static class UserNetWebHostBuilderExtensions
{
    /// <summary>
    /// Makes Kestrel serve on <paramref name="host"/> instead of the kernel's sockets: its transport becomes a
    /// <see cref="StackTransportFactory"/> and Kestrel's sockets transport is removed, so no kernel port is bound.
    /// Endpoints are given as usual (<c>Listen(IPAddress.Any, 80)</c>, <c>ListenAnyIP(80)</c>, <c>UseUrls("http://*:80")</c>):
    /// any-addresses and host names mean the host's address.
    /// </summary>
    /// <param name="builder">The web host builder (<c>WebApplicationBuilder.WebHost</c>).</param>
    /// <param name="host">The stack to serve on; the caller starts and disposes it.</param>
    public static IWebHostBuilder UseUserNet(this IWebHostBuilder builder, IStackHost host)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(host);
        return builder.ConfigureServices(services =>
        {
            services.RemoveAll<IConnectionListenerFactory>();
            services.AddSingleton<IConnectionListenerFactory>(sp => new StackTransportFactory(host, sp.GetService<ILoggerFactory>()));
        });
    }
}
