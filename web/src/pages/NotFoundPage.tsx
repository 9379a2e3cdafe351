import { AuthLayout } from "../components/AuthLayout.js";
import { buttonClass } from "../components/Button.js";
import { Link } from "../router.js";

export function NotFoundPage() {
  return (
    <AuthLayout title="Page not found" subtitle="The page you were looking for doesn't exist or has moved.">
      <Link to="/" className={buttonClass("primary", "md", "btn-block")}>
        Go to the home page
      </Link>
    </AuthLayout>
  );
}
