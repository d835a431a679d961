import { CreateOrganizationForm } from '~/components/settings-panels';

export default function NewOrganizationPage() {
  return (
    <div className="max-w-md space-y-4">
      <h1 className="text-2xl font-semibold">New organization</h1>
      <p className="text-sm text-slate-600">
        You become its admin. Hosts, tokens and members are kept apart per organization.
      </p>
      <CreateOrganizationForm />
    </div>
  );
}
