/*
 * DynamoDB Local bound to loopback. Its jar has no host option: ServerRunner builds a Jetty `Server(port)`,
 * whose connector listens on every interface, and the jar answers any browser origin (`-cors` defaults to
 * `*`). This launcher builds the same server through ServerRunner, then, before it starts, sets the
 * connector's host and puts a check in front of DynamoDB Local's handler: the Host header must name
 * loopback (no DNS rebinding) and no browser Origin is accepted (no other site's page), the rule
 * local/loopback.ts applies to the runtime's other listeners.
 *
 * It also ends with the process that started it: that parent holds the only write end of its stdin, and
 * the kernel closes it however the parent ends (a clean stop, a crash, SIGKILL), so end of file on stdin
 * means the parent is gone. Without this, Java in a process group of its own would keep its port.
 *
 * Usage: java -cp DynamoDBLocal.jar:<this class> LoopbackDynamoDbLocal <host> <DynamoDB Local's own arguments>
 * local/dynamodb-local.ts compiles it once (with the JDK's jdk.compiler module) and starts it, stdin a pipe.
 */
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.util.Arrays;
import java.util.Locale;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public final class LoopbackDynamoDbLocal {
  private LoopbackDynamoDbLocal() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) throw new IllegalArgumentException("Usage: LoopbackDynamoDbLocal <host> [DynamoDB Local arguments]");
    String host = args[0];
    exitWhenParentGoes(System.in);
    DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(Arrays.copyOfRange(args, 1, args.length));
    // DynamoDBProxyServer keeps its Jetty server private and offers no other way to reach the connector.
    Field field = DynamoDBProxyServer.class.getDeclaredField("server");
    field.setAccessible(true);
    Server server = (Server) field.get(proxy);
    for (Connector connector : server.getConnectors()) ((ServerConnector) connector).setHost(host);
    server.setHandler(new LocalOnly(server.getHandler()));
    proxy.start();
  }

  /** Exits once `parent` reaches end of file (or fails), which happens when the parent process ends. */
  private static void exitWhenParentGoes(InputStream parent) {
    Thread watcher =
        new Thread(
            () -> {
              try {
                // The parent never writes: only the end of file matters.
                parent.transferTo(OutputStream.nullOutputStream());
              } catch (IOException err) {
                // A broken stdin is as good as a closed one: no parent is left to stop this process.
              }
              // halt, not exit: no shutdown hook may keep the port after the parent is gone.
              Runtime.getRuntime().halt(0);
            },
            "exit-with-parent");
    watcher.setDaemon(true);
    watcher.start();
  }

  /** Answers 403 to a request from a browser page or for a name that is not loopback. */
  private static final class LocalOnly extends Handler.Wrapper {
    LocalOnly(Handler handler) {
      super(handler);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) throws Exception {
      String origin = request.getHeaders().get("Origin");
      String name = Request.getServerName(request);
      if (origin != null || !isLoopbackName(name)) {
        Response.writeError(request, response, callback, 403, "DynamoDB Local answers only tools on this machine");
        return true;
      }
      return super.handle(request, response, callback);
    }
  }

  static boolean isLoopbackName(String hostname) {
    if (hostname == null) return false;
    String name = hostname.toLowerCase(Locale.ROOT);
    if (name.endsWith(".")) name = name.substring(0, name.length() - 1);
    return name.equals("localhost")
        || name.endsWith(".localhost")
        || name.matches("127(\\.\\d{1,3}){3}")
        || name.equals("[::1]")
        || name.equals("::1");
  }
}
